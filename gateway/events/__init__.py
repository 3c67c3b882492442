"""Events: the outbox every capability writes into, in the transaction of the change itself."""
