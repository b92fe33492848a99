from django.urls import path

from . import board, views

app_name = "tasks"

urlpatterns = [
    path("", views.my_tasks, name="mine"),
    path("<int:pk>/", views.task_detail, name="detail"),
    path("<int:pk>/outcome/", views.record_outcome, name="outcome"),
    path("<int:pk>/undo/", views.undo_outcome, name="undo"),
    path("<int:pk>/survey/", views.save_phone_survey, name="survey"),
    path("<int:pk>/phone/", views.reveal_phone, name="phone"),
    path("<int:pk>/reassign/", views.reassign_task, name="reassign"),
    path("new/", board.new_task, name="new"),
    path("board/", board.board, name="board"),
    path("board/reassign/", board.bulk_reassign, name="bulk_reassign"),
    path("board/leave/<int:user_id>/", board.set_leave, name="leave"),
    path("board/hand-on/<int:user_id>/", board.hand_on, name="hand_on"),
]
