// DepotStore: blobs, catalog, versions, ingest.
