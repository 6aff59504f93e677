"""Export stages: a student directory to artifacts a device runtime loads."""
