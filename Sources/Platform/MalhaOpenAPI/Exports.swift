// Schemas and documents render to MalhaCore's `JSONValue`; it comes with the module.
@_exported import MalhaCore
