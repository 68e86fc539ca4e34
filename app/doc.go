// Package app holds robaws-edge's two Fiber apps and what they share.
//
// NewPublic is the receiver: one route per configured endpoint (SPEC §1),
// served on the tunnel and on receiver.listen, nothing else. Its room is
// public.go (the delivery handler and the streamed body), framing.go
// (ambiguous framing refused) and connlimit.go (the connection caps).
//
// NewLocal is the office's side, served on admin.listen only; local.go lists
// every route of its two rooms:
//
//   - the JSON API (SPEC §4): api.go (the handler type and the strict
//     reading of a request), a file per noun (api_health.go, api_stats.go,
//     api_logs.go, api_stream.go, api_replay.go, api_customers.go,
//     api_changes.go, api_webhooks.go, api_sync.go, api_backup.go,
//     api_forward.go) holding its handlers and the plain functions they
//     call, and api_types.go, the JSON shapes shared with Client;
//   - the web console (SPEC §7): console.go and the console_*.go files, a
//     page per file with its typed view, calling the same plain functions
//     as the API, never the API over HTTP.
//
// Both rooms stand on health.go (SPEC §4.1's problems), stream_hub.go (the
// log stream's fan-out), guard.go (Host check and token throttle), error.go
// (the one map from errors to HTTP answers) and config.go. metrics.go serves
// /metrics; client.go is the API's Go client, used by the CLI and tests.
//
// Processing functions take plain values, never a fiber.Ctx, so pages,
// handlers and tests share them.
package app
