"""Training TraceGen: data over triplets, the trainer (DDP, schedules, EMA, resume), metrics, warm-up."""
