// DepotHTTP: signed downloads, admin API, metrics, health.
