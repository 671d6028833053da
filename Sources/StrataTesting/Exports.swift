// A test that imports StrataTesting uses the stores and types it tests as well, and the
// loopback HTTP origin (a module of its own, so that the demo can serve from it without
// depending on the test kit).
@_exported import Strata
@_exported import StrataLoopbackHTTP
