// Package callbacktest is the shared kit of the project's tests: an
// Observer that tells a test when the dispatcher concluded an attempt, a
// request's history as strings, a settable clock, a log buffer safe for
// concurrent writers and a fake Dialer that plays both legs. Only tests
// import it.
package callbacktest
