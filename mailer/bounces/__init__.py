"""Bounces and complaints: reports come in (listener, mailbox, provider webhooks), are stored,
then parsed, matched to the delivery they are about and judged by the policy."""
