"""The safeguards learners can touch: a simulated PACS with access control
(:mod:`~hipaa_lab.safeguards.access`) and its tamper-evident DICOM audit trail
(:mod:`~hipaa_lab.safeguards.audit`)."""
