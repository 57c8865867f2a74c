import DepotStore
import Prometheus

extension ServerMetrics {
    static let storageHelp = "Bytes of the store by kind: logical (live versions), stored (distinct originals), "
        + "artifact (blobs only artifacts use), trash (versions in the trash), reclaimable (unreferenced blobs)."

    /// The store's `StorageUsage` as gauges (the same struct `depot stats` and the API show).
    func refreshStorage(_ usage: StorageUsage) {
        for (kind, bytes) in [("logical", usage.logicalBytes), ("stored", usage.storedBytes), ("artifact", usage.artifactBytes),
                              ("trash", usage.trashBytes), ("reclaimable", usage.reclaimableBytes)] {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_storage_bytes", unitName: "", helpText: Self.storageHelp),
                               labels: [("kind", kind)]).set(bytes)
        }
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_storage_damaged_blobs", unitName: "",
                                                            helpText: "Blobs known to be damaged (never served until healed)."))
            .set(Int64(usage.damagedBlobs))
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_storage_dedup_ratio", unitName: "",
                                                            helpText: "Logical bytes over stored bytes (originals only)."))
            .set(usage.dedupRatio)
        if let free = usage.filesystemFreeBytes {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_storage_filesystem_free_bytes", unitName: "",
                                                                helpText: "Free space on the filesystem of the blob store."))
                .set(free)
        }
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_storage_seconds_until_full", unitName: "",
                                                            helpText: "Seconds until the store's filesystem is full at the last 30 days' growth (-1: not growing or unknown)."))
            .set(usage.daysUntilFull.map { $0 * 86_400 } ?? -1)
        for group in usage.byCollection {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_storage_collection_bytes", unitName: "",
                                                                helpText: "Bytes per collection: logical (live versions) and stored (distinct originals)."),
                               labels: [("collection", group.name), ("kind", "logical")]).set(group.logicalBytes)
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_storage_collection_bytes", unitName: "",
                                                                helpText: "Bytes per collection: logical (live versions) and stored (distinct originals)."),
                               labels: [("collection", group.name), ("kind", "stored")]).set(group.storedBytes)
        }
    }
}
