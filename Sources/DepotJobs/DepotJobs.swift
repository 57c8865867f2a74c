// DepotJobs: the durable job queue in the catalog, leases, retries, worker supervision.
