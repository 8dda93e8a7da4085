"""The storage block built from settings, and the embedded S3 server of the local default."""
