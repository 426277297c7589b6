// Package fullstack drives the whole backend (both services, their
// databases and connectors, and the gateway in front, in one process)
// through the gateway's REST API: the gateway's end-to-end test.
package fullstack
