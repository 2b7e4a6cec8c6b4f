// Package web is the web callback page (PortaSIP's web callback trigger,
// seed 002; Mizu's callback page, seed 003): server-rendered forms an end
// user fills in on a phone, and a status page that follows the callback
// until it is finished.
//
// Three modes, each enabled on its own and served at its own path:
//
//   - /callback/simple: account PIN (or account and password) and the
//     user's own number; the second number is the helpdesk from the
//     configuration.
//   - /callback/extended: account, password, own number and the number to
//     reach: the calling card with that destination given, so that the
//     user hears the balance and the maximum call duration before it is
//     dialled (seed 002).
//   - /callback/hosted: the own number only, paid by an internal account
//     and connected to the configured number; limited per client address
//     and per number, and to an allow-list of number prefixes.
//
// A submitted form is answered with a redirect to /callback/status/<token>,
// where the token is the request id encrypted and authenticated with the
// configured key, so that the public never sees or guesses sequential ids.
//
// The page checks credentials with the auth package and creates requests
// through callback.Service, which validates, schedules and wakes the
// dispatcher; it reads them back from the service's Store. It needs no
// JavaScript: the status page refreshes itself with a meta refresh, and
// the Content-Security-Policy allows no script at all.
package web
