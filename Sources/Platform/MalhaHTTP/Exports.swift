// Every service names header fields and statuses; they come with the HTTP kit.
@_exported import HTTPTypes
