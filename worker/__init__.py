"""Worker: RQ jobs and the bump flow."""
