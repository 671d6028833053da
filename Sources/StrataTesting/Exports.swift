// A test that imports StrataTesting uses the stores and types it tests as well.
@_exported import Strata
