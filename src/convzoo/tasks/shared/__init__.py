"""What every job needs and no job owns: the device, timing, torchrun, checkpoints,
optional extras, number formatting, plots and seeds. Imports nothing else of tasks/."""
