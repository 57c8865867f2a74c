import DepotProcess
import DepotQueue
import Testing

/// The job kinds the queue knows and the processors that serve them agree.
@Suite struct KindsAndProcessorsTests {
    /// Every processor serves a known kind, and every artifact it writes is one its kind says
    /// it makes — what `depot verify` relies on to say which job makes a lost artifact again.
    @Test func everyArtifactAProcessorWritesIsListedByItsKind() {
        for processor in ProcessorRegistry.standard(testProcessors: true).processors {
            let kind = JobKinds.named(processor.kind)
            #expect(kind != nil, "\(processor.name) serves an unknown kind \(processor.kind)")
            for artifact in processor.artifactKinds.keys {
                #expect(kind?.makes.contains(artifact) == true, "\(processor.name) writes \(artifact), which \(processor.kind) does not list")
                #expect(JobKinds.making(artifact: artifact)?.name == processor.kind)
            }
        }
    }
}
