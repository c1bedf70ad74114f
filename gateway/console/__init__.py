"""The web console: server-rendered pages for the privacy desk and the operators, and the
public joint-use notice.

Staff sign in with an account made by ``gateway staff add``; each account has one role, and
the role decides what each page allows (:data:`gateway.console.service.PERMISSIONS`, the one
place that matrix is written). Every page a member of staff views and every action taken goes
into the access log through the audit spine, with the actor ``operator:<staff name>``.
"""
