// Package packaging holds what installs callbackd on a Debian machine: the
// nfpm description of the .deb (nfpm.yaml), the systemd unit, the
// maintainer scripts, and the test that builds, installs, starts and
// removes the package.
package packaging
