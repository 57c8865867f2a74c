// Wrappers live in include/clinux.h; this file gives SwiftPM a C target to build.
