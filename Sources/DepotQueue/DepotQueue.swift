// DepotQueue: the durable job queue — a pipeline of job kinds per version (extract, then
// thumbnail, …; `Pipeline` says which, `JobKinds` what each takes and waits for), typed
// parameters, priorities, dependencies, leases and retries, and each version's processing
// status. It owns the `jobs`, `job_dependencies` and `job_version_status` tables, and only it
// holds SQL for them; it reads versions through the store's `Catalog`. It links no parser:
// the HTTP server, the outbox and the CLI use it without the C libraries, and the runner
// (DepotRunner) takes jobs from it to worker processes.
