import DepotStore
import Prometheus

extension ServerMetrics {
    static let nodeLastSeenHelp = "Seconds since each node of the catalog last said it is alive, by node and role."
    static let nodeUpHelp = "1 when the node is up (seen within 3 of its heartbeats), 0 when it is down or stopped."
    static let nodeJobsHelp = "Jobs each node's runner held at its last heartbeat."

    /// The catalog's nodes as gauges: the same `NodeStatus` list `depot status` and the
    /// status API show, so a node is up, down or stopped alike in all of them.
    func refreshNodes(_ nodes: [NodeStatus]) {
        for node in nodes {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_node_last_seen_seconds", unitName: "",
                                                                helpText: Self.nodeLastSeenHelp),
                               labels: [("node", node.id), ("role", node.role)]).set(node.lastSeenSeconds)
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_node_up", unitName: "", helpText: Self.nodeUpHelp),
                               labels: [("node", node.id), ("role", node.role)]).set(Int64(node.state == .up ? 1 : 0))
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_node_jobs_running", unitName: "",
                                                                helpText: Self.nodeJobsHelp),
                               labels: [("node", node.id)]).set(Int64(node.jobsRunning))
        }
    }
}
