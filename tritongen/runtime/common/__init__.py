"""What every tritongen Python model shares: parameter words and readers, and the config.pbtxt reader."""
