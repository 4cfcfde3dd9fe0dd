// Package auth guards the runtime's HTTP API: a bearer token is authenticated with a TokenReview
// and the request authorised with a SubjectAccessReview on its non-resource path and verb, as
// kube-rbac-proxy and controller-runtime's metrics filter do (same cache lifetimes), with the path
// under /wattson-runtime so that the runtime's /api/* is not mistaken for the apiserver's
// discovery paths (which every authenticated user may get).
package auth
