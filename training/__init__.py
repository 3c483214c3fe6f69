"""The offline pipeline: import-format data in, one versioned, checksummed bundle out."""
