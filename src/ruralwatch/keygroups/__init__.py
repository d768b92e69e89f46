"""Key groups and their health monitoring: registry, tiers, contacts, referrals, audits."""
