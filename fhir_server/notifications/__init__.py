"""E-mail notifications to patients: their record was created, a professional used emergency access to it, added
or changed a document in it, or consulted it for the first time (service/notify.py `Notifier`: the last two as
the patient chose). The server queues a notification in the database when the event happens
(`Notifications.enqueue`, storage/notification_queue.py); a delivery thread in each server worker
(sender.DeliveryThread), or any other process, takes the due ones, claiming each so that concurrent senders
deliver it once, and sends it by SMTP (smtp.py), retrying with exponential backoff and giving up after a number
of attempts. A delivered notification is deleted. The e-mail says only what happened and when, never any health
data: the patient signs in to their record to see the details.
"""
