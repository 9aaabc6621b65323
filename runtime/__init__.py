"""What every process runs with: the clock (runtime.clock) and the settings table (runtime.settings).

Lowest layer of onsell besides models/: it imports no other onsell package."""
