"""Planning: from a loaded manifest to jobs, keys and a diff against the lock. Pure."""
