"""Settings, bucket keys, error codes and event names: facts defined once, imported everywhere."""
