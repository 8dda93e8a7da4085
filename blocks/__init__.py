"""The storage block built from settings, the plain S3 operations over it, and the embedded S3
server of the local default."""
