"""The S3 API: pure signature, aws-chunked, XML and listing code, and (later) its listener."""
