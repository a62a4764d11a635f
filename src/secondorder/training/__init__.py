"""The one-run layer: one run spec -> one run record (:func:`.loop.train_run`).

:mod:`.loop` trains, reading top to bottom; :mod:`.batches` draws each step's data,
:mod:`.evaluate` evaluates at the logging points, off the training clock (:mod:`.clock`);
:mod:`.checkpoint` holds the run's state and resumes it; :mod:`.record` writes the record and
decides when an existing one stands for a run; :mod:`.devices` leases the device,
:mod:`.progress` shows the run, :mod:`.selection` applies a tuning group's winner.
Nothing is imported here, so that :mod:`.record` stays torch-free for the analysis.
"""
