# nbgrader's settings for the course's graded assignment (tools/grade.py, make release,
# make autograde). The course folder is this one; nbgrader keeps its gradebook and working
# folders (source/, release/, submitted/, autograded/, feedback/) here, all git-ignored.
from pathlib import Path

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = "tbptt-kit"
c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ExecutePreprocessor.timeout = 300
