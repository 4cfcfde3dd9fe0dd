// Package auth guards the runtime's HTTP API: a bearer token is authenticated with a TokenReview
// and the request authorised with a SubjectAccessReview on its non-resource path and verb (GET
// /api/runs is verb get on /api/runs; POST /rerun is verb post on /rerun), as kube-rbac-proxy
// does. It wraps controller-runtime's metrics filter, which does exactly that with the
// apiserver's delegating authenticator and authorizer (both cached: allowed 5m, denied 30s,
// tokens 1m).
package auth
