"""The front doors: Swift v1, S3, volume and image APIs, and the NBD block gateway."""
