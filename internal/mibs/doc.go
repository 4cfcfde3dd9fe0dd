// Package mibs fetches the MIB files the sample PDUModels compile (PowerNet-MIB, PDU2-MIB, CPS-MIB
// and the IETF modules they import) from pinned upstream locations into a cache, each checked
// against its sha256, and finds the MIB folders `make demo` uses: the shared fixtures beside the
// clone, else that cache. `make mibs` runs hack/mibs on hack/mibs/sources.txt.
package mibs
