"""Running: the store, the journal and the scheduler that turn a plan into verified clips."""
