"""`automl fsck`: proving that the catalog and the bucket tell the same story."""
