"""The experts of himoe-example, one folder per domain."""
