// The policy in force while none is set (docs/control.md, "Policy"). It is an ordinary document,
// compiled like any other, so `corridor admin policy get` can show it and an admin can start
// from it.

/** The default policy's text. */
export const DEFAULT_POLICY = `// Corridor's default policy, in force while no policy is set.
// Replace it with \`corridor admin policy set FILE\`; \`corridor admin policy get\` shows this text.
{
  "acls": [
    // Everyone reaches their own devices (laptop to server, browser tab to laptop), every port.
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] },
    // Admins and the owner reach every node, tagged ones included.
    { "action": "accept", "src": ["autogroup:admin"], "dst": ["*:*"] },
  ],
  "ssh": [
    // Everyone logs in to their own devices' SSH server as any local user except root, without
    // a fresh sign-in. Root, other people's devices and tagged servers need a rule of your own.
    {
      "action": "accept",
      "src": ["autogroup:member"],
      "dst": ["autogroup:self"],
      "users": ["autogroup:nonroot"],
    },
  ],
}
`;
