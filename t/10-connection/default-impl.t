# Without any event loop loaded, Future::IO's built-in implementation runs
# the client: ->get waits on the core's wake-up descriptor.
use Test2::V0;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $redis = Future::IO::Redis->new(%{ FIORTest::server('plain') });
my $key   = FIORTest::unique_key('default');

my $f = $redis->ping;
isa_ok($f, 'Future');
is($f->get, 'PONG', 'ping through the default implementation');
is($redis->set($key, 'v')->get, 'OK', 'set');
is([ map { $_->get } map { $redis->incr("$key:n") } 1 .. 5 ], [ 1 .. 5 ], 'several in flight');
is($redis->command('BLPOP', "$key:nothing", '0.05')->get, undef, 'a slow reply');
is($redis->del($key, "$key:n")->get, 2, 'cleanup');
$redis->disconnect;
done_testing;
