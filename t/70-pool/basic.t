# Future::IO::Redis::Pool basics: new() validates pool and connection
# options and does no I/O; warm (and the first acquire) open min connections
# (counted server-side by the pool's client_name); acquire yields a connected
# client, release gives it back, stats count it; connection options reach
# every connection (prefix, client_name, database, protocol 3, checked on the
# server); with() yields the callback's result, releases on success, on die,
# on a failed future and for a plain sub, and rethrows the same error; a
# double release and a foreign release only warn, and never make a
# connection appear twice; shutdown fails waiters and later acquires, and
# closes connections still out when they come back.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use Scalar::Util qw(refaddr weaken);
use lib 't/lib';
use FIORTest;

alarm 60;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $base = FIORTest::unique_key('pool');
my $mon  = Future::IO::Redis->new(%$srv);    # looks at the server
$mon->connect->get;

my $names = 0;
sub unique_name { "fior-pool-basic-$$-" . ++$names }

subtest 'new validates and does no I/O' => sub {
    my $pool = Future::IO::Redis::Pool->new(
        %$srv,
        client_name => 'fior-pool-nothing',
        min         => 2
    );
    is( $pool->min, 2,  'min' );
    is( $pool->max, 10, 'max default' );
    is(
        $pool->stats,
        { active => 0, idle => 0, waiting => 0, total => 0, destroyed => 0 },
        'nothing opened'
    );
    is( FIORTest::clients_named( $mon, 'fior-pool-nothing' ), {}, 'no connection on the server' );
    is( $pool->{_pid},                                        $$, 'records the pid' );

    my %bad = (
        'unknown connection option' => [ [ bogus => 1 ],        qr/unknown option 'bogus'/ ],
        'bad port'                  => [ [ port => 'x' ],       qr/option 'port'/ ],
        'bad uri'                   => [ [ uri => 'http://x' ], qr/uri|scheme/i ],
        'min > max'        => [ [ min => 3, max => 2 ], qr/min \(3\) must not exceed max \(2\)/ ],
        'max 0'            => [ [ min => 0, max => 0 ], qr/max must be at least 1/ ],
        'negative min'     => [ [ min => -1 ],          qr/min must be a non-negative integer/ ],
        'fractional max'   => [ [ max => 1.5 ],         qr/max must be a non-negative integer/ ],
        'negative timeout' => [ [ acquire_timeout => -1 ],  qr/acquire_timeout must be a number/ ],
        'text timeout'     => [ [ idle_timeout => 'soon' ], qr/idle_timeout must be a number/ ],
        'undef cleanup_timeout' =>
            [ [ cleanup_timeout => undef ], qr/cleanup_timeout must be a number/ ],
        'bad on_dirty' => [ [ on_dirty => 'keep' ], qr/on_dirty must be 'destroy' or 'cleanup'/ ],
    );
    for my $what ( sort keys %bad ) {
        my ( $args, $re ) = @{ $bad{$what} };
        like(
            dies { Future::IO::Redis::Pool->new( %$srv, @$args ) },
            qr/\AFuture::IO::Redis::Pool->new: .*$re.* at \Q${\__FILE__}\E line/s,
            "$what croaks, naming the caller"
        );
    }
};

subtest 'warm opens min connections' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new( %$srv, client_name => $name, min => 3, max => 5 );
    is( $pool->warm->get, exact_ref($pool), 'warm yields the pool' );
    is( scalar keys %{ FIORTest::clients_named( $mon, $name ) },
        3, 'three connections on the server' );
    is( $pool->stats, { active => 0, idle => 3, waiting => 0, total => 3, destroyed => 0 },
        'stats' );
    $pool->warm->get;
    is( scalar keys %{ FIORTest::clients_named( $mon, $name ) },
        3, 'warming again opens nothing more' );
    $pool->shutdown;
    ok( FIORTest::eventually( sub { !%{ FIORTest::clients_named( $mon, $name ) } } ),
        'shutdown closed them' );
};

subtest 'the first acquire warms up to min' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new( %$srv, client_name => $name, min => 2, max => 4 );
    my $r    = $pool->acquire->get;
    isa_ok( $r, ['Future::IO::Redis'], 'a client' );
    ok( $r->is_connected, 'connected' );
    is( $r->ping->get, 'PONG', 'usable' );
    ok( FIORTest::eventually( sub { $pool->stats->{total} == 2 } ), 'min connections exist' );
    is( $pool->stats, { active => 1, idle => 1, waiting => 0, total => 2, destroyed => 0 },
        'stats' );
    is( scalar keys %{ FIORTest::clients_named( $mon, $name ) }, 2, 'two on the server' );
    $pool->release($r);
    is(
        $pool->stats,
        { active => 0, idle => 2, waiting => 0, total => 2, destroyed => 0 },
        'released: idle'
    );
    is( refaddr( $pool->acquire->get ), refaddr($r), 'the connection released last comes next' );
    $pool->shutdown;
};

subtest "futures of the loop's class" => sub {
    my $pool = Future::IO::Redis::Pool->new( %$srv, min => 2, max => 2 );
    my %f    = (
        warm    => $pool->warm,
        acquire => $pool->acquire,
        with    => $pool->with( async sub { await $_[0]->ping } ),
    );
    for my $what ( sort keys %f ) {
        isa_ok( $f{$what}, ['IO::Async::Future'], $what );
        $f{$what}->get;
    }
    $pool->release( $f{acquire}->get );
    $pool->shutdown;
    isa_ok( $pool->acquire, ['IO::Async::Future'], 'a failed acquire' );
};

subtest 'min 0: connections only on demand' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new( %$srv, client_name => $name, min => 0, max => 2 );
    $pool->warm->get;
    is( $pool->stats->{total}, 0, 'warm opens nothing' );
    my $r = $pool->acquire->get;
    is( $pool->stats->{total}, 1, 'one for the one caller' );
    $pool->release($r);
    $pool->shutdown;
};

subtest 'connection options reach every connection' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new(
        %$srv,
        client_name => $name,
        prefix      => "$base:pfx:",
        database    => 2,
        protocol    => 3,
        min         => 2,
        max         => 2,
    );
    my @conns = ( $pool->acquire->get, $pool->acquire->get );
    isnt( refaddr $conns[0], refaddr $conns[1], 'two connections' );
    for my $i ( 0, 1 ) {
        my $r = $conns[$i];
        $r->set( "k$i", "v$i" )->get;
        my $info = $r->command( 'CLIENT', 'INFO' )->get;
        like( $info, qr/(?:^|\s)name=\Q$name\E(?:\s|$)/, "conn $i: client_name" );
        like( $info, qr/(?:^|\s)db=2(?:\s|$)/,           "conn $i: database" );
        like( $info, qr/(?:^|\s)resp=3(?:\s|$)/,         "conn $i: protocol 3" );
        is( ref $r->command( 'CONFIG', 'GET', 'maxmemory' )->get, 'HASH', "conn $i: RESP3 maps" );
    }
    my $db2 = Future::IO::Redis->new( %$srv, database => 2 );
    is( $db2->get("$base:pfx:k0")->get,    'v0', 'prefix and database applied (conn 0)' );
    is( $db2->get("$base:pfx:k1")->get,    'v1', 'prefix and database applied (conn 1)' );
    is( $mon->exists("$base:pfx:k0")->get, 0,    'nothing in database 0' );
    $db2->del( "$base:pfx:k0", "$base:pfx:k1" )->get;
    $pool->release($_) for @conns;
    $pool->shutdown;

    my $uri_pool = Future::IO::Redis::Pool->new( uri => "redis://$srv->{host}:$srv->{port}/3" );
    my $via_uri  = $uri_pool->acquire->get;
    like( $via_uri->command( 'CLIENT', 'INFO' )->get, qr/(?:^|\s)db=3(?:\s|$)/, 'uri forwarded' );
    $uri_pool->release($via_uri);
    is( $uri_pool->stats->{destroyed}, 0, 'its database is not taken for a changed one' );
    $uri_pool->shutdown;
};

subtest 'with' => sub {
    my $pool = Future::IO::Redis::Pool->new( %$srv, client_name => unique_name(), max => 2 );
    my $key  = "$base:with";
    my $got  = $pool->with(
        async sub {
            my ($r) = @_;
            await $r->set( $key, 'value' );
            return await $r->get($key);
        }
    )->get;
    is( $got,                   'value', 'yields the callback result' );
    is( $pool->stats->{active}, 0,       'released after success' );
    is( $pool->stats->{idle},   1,       '... to the idle ones' );

    my $f = $pool->with( async sub { die "boom\n" } );
    is( FIORTest::failure_of($f), "boom\n", 'a die is rethrown' );
    is( $pool->stats->{active},   0,        'released after a die' );

    my $error = Future::IO::Redis::Error->new( message => 'mine' );
    $f = $pool->with( async sub { die $error } );
    is( FIORTest::failure_of($f), exact_ref($error), 'the same error object' );

    $f = $pool->with(
        async sub {
            my ($r) = @_;
            await $r->hset( $key, 'f', 'v' );    # WRONGTYPE
        }
    );
    isa_ok( FIORTest::failure_of($f), ['Future::IO::Redis::Error::Redis'], 'a command error' );
    is( $pool->stats->{active}, 0, 'released after a failed future' );

    is( $pool->with( sub { 'plain' } )->get, 'plain', 'a plain sub: its value' );
    like( FIORTest::failure_of( $pool->with( sub { die "sync\n" } ) ), qr/^sync/, 'a plain die' );
    is(
        $pool->stats,
        { active => 0, idle => 1, waiting => 0, total => 1, destroyed => 0 },
        'one connection served all of it'
    );
    like( dies { $pool->with('nope') }, qr/code reference/, 'with needs code' );

    $pool->with( async sub { await $_[0]->del($key) } )->get;
    $pool->shutdown;
};

subtest 'double and foreign release warn and change nothing' => sub {
    my $pool
        = Future::IO::Redis::Pool->new( %$srv, client_name => unique_name(), min => 0, max => 2 );
    my $r = $pool->acquire->get;
    ok( no_warnings { $pool->release($r) }, 'first release: no warning' );
    my $w = warnings { $pool->release($r) };
    is( scalar @$w, 1, 'second release: one warning' );
    like( $w->[0], qr/already released.*ignored at \Q${\__FILE__}\E/s, 'says so, at the caller' );
    is(
        $pool->stats,
        { active => 0, idle => 1, waiting => 0, total => 1, destroyed => 0 },
        'still one idle connection'
    );

    my $foreign = Future::IO::Redis->new(%$srv);
    $foreign->connect->get;
    like(
        warning { $pool->release($foreign) },
        qr/not checked out from this pool/,
        'a foreign connection: warning'
    );
    ok( $foreign->is_connected, 'left alone' );
    is( $pool->stats->{idle}, 1, 'not taken in' );
    $foreign->disconnect;

    my @two = ( $pool->acquire, $pool->acquire );
    my @got = map { $_->get } @two;
    isnt( refaddr $got[0], refaddr $got[1], 'two acquires: two different connections' );
    is( $pool->stats->{total}, 2, 'two in all' );

    # A connection the pool closed (dirty) cannot come back either.
    $got[0]->multi_start->get;
    $pool->release( $got[0] );
    is( $pool->stats->{destroyed}, 1, 'dirty one destroyed' );
    like( warning { $pool->release( $got[0] ) }, qr/not checked out/, 'releasing it again warns' );
    $pool->release( $got[1] );
    is( $pool->stats, { active => 0, idle => 1, waiting => 0, total => 1, destroyed => 1 },
        'stats' );
    ok( no_warnings { $pool->release(undef) }, 'release(undef): nothing' );
    like( warning { $pool->release('text') }, qr/not checked out/, 'release(text) warns' );
    like( warning { $pool->release( Future->done ) }, qr/not checked out/,
        'release(future) warns' );
    is( $pool->stats->{idle}, 1, 'still one idle' );
    $pool->shutdown;
};

subtest 'shutdown' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new( %$srv, client_name => $name, min => 2, max => 2 );
    $pool->warm->get;
    my $held = $pool->acquire->get;
    my ($idle) = map { $_->[0] } @{ $pool->{_idle} };
    ok( $idle && $idle->is_connected, 'one idle connection' );

    $pool->shutdown;
    ok( !$idle->is_connected, 'idle connection closed' );
    ok( $held->is_connected,  'the one handed out is not' );
    my $err = FIORTest::failure_of( $pool->acquire );
    isa_ok( $err, ['Future::IO::Redis::Error::Disconnected'], 'acquire after shutdown fails' );
    like( "$err", qr/pool.*shut down/, '... saying why' );
    isa_ok(
        FIORTest::failure_of( $pool->with( async sub { 1 } ) ),
        ['Future::IO::Redis::Error::Disconnected'],
        'with after shutdown fails'
    );
    isa_ok(
        FIORTest::failure_of( $pool->warm ),
        ['Future::IO::Redis::Error::Disconnected'],
        'warm after shutdown fails'
    );
    $pool->release($held);
    ok( !$held->is_connected, 'released after shutdown: closed' );
    is( $pool->stats, { active => 0, idle => 0, waiting => 0, total => 0, destroyed => 0 },
        'nothing left' );
    ok( FIORTest::eventually( sub { !%{ FIORTest::clients_named( $mon, $name ) } } ),
        'none on the server' );

    # Callers in line when the pool shuts down.
    $pool = Future::IO::Redis::Pool->new( %$srv, max => 1, acquire_timeout => 10 );
    $held = $pool->acquire->get;
    my @waiters = map { $pool->acquire } 1 .. 2;
    $held->ping->get;    # the loop runs: nobody is served
    is( [ map { $_->is_ready ? 1 : 0 } @waiters ], [ 0, 0 ], 'two callers wait' );
    is( $pool->stats->{waiting},                   2,        'stats: waiting' );
    $pool->shutdown;

    for my $i ( 0, 1 ) {
        my $err = FIORTest::failure_of( $waiters[$i] );
        isa_ok( $err, ['Future::IO::Redis::Error::Disconnected'], "waiter $i fails" );
    }
    is( $pool->stats->{waiting}, 0, 'none waiting' );
    $pool->release($held);
};

subtest 'a dropped pool is freed and closes its connections' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new(
        %$srv,
        client_name => $name,
        min         => 2,
        max         => 3,
        on_dirty    => 'cleanup'
    );
    $pool->with( async sub { await $_[0]->ping } )->get;
    my $dirty = $pool->acquire->get;
    $dirty->multi_start->get;
    $pool->release($dirty);    # cleaned in the background
    $pool->release( $pool->acquire->get );
    ok( FIORTest::eventually( sub { $pool->stats->{idle} == 2 } ), 'the cleaned one comes back' );
    is(
        $pool->stats,
        { active => 0, idle => 2, waiting => 0, total => 2, destroyed => 0 },
        'cleaned and back'
    );
    is( scalar keys %{ FIORTest::clients_named( $mon, $name ) }, 2, 'two connections open' );
    weaken( my $weak = $pool );
    undef $pool;
    ok( !$weak, 'the pool is freed' );
    ok( FIORTest::eventually( sub { !%{ FIORTest::clients_named( $mon, $name ) } } ),
        'its connections are closed' );
};

subtest 'a connection error reaches the caller' => sub {
    require FIORServer;
    my $port = FIORServer::free_port();        # nobody listens there
    my $pool = Future::IO::Redis::Pool->new(
        host            => '127.0.0.1',
        port            => $port,
        connect_timeout => 2,
        max             => 2
    );
    my $err = FIORTest::failure_of( $pool->acquire );
    isa_ok( $err, ['Future::IO::Redis::Error::Connection'],
        'acquire fails with the connect error' );
    is(
        $pool->stats,
        { active => 0, idle => 0, waiting => 0, total => 0, destroyed => 0 },
        'nothing counted'
    );
    isa_ok( FIORTest::failure_of( $pool->warm ), ['Future::IO::Redis::Error'], 'warm fails too' );
};

$mon->disconnect;
done_testing;
