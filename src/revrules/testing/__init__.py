"""For tests and rehearsals: loopback CRM emulators, the command-test harness and the connector contract."""
