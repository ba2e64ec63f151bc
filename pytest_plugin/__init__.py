"""The orchestrate pytest plugin (entry point ``pytest11``); the logic lives in `testkit`."""
