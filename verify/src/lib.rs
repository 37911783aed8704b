//! jwtd-verify: verify jwtd's access tokens offline, in the resource servers that receive them.
