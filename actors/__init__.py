"""The running system: a small actor runtime on trio and the actors built on it.

``actors.runtime`` holds the building blocks (bounded mailboxes, ``ActorRef``, ``call`` with a
one-shot ``Reply``, the generic ``run_mailbox`` loop), ``actors.supervisor`` the Erlang-style
one_for_one ``Supervisor`` and ``actors.registry`` the ``Registry`` that starts one actor per key
on demand. Import from the submodules; this package re-exports nothing on purpose, so importing
one actor never drags in the others.
"""
