// DepotOutbox: the outbox projection and event dispatch.
