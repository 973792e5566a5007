# SCAN iterators (Future::IO::Redis::Iterator), under RESP2 and RESP3:
# scan_iter over 5,000 string keys and 10 hashes under a unique prefix,
# with match => "$prefix*", yields non-empty arrayref batches that, after
# de-duplication, hold each of those keys exactly once and no other key;
# count => changes how many batches it takes; type => 'hash' / 'string'
# filter; ->next gives undef when finished (and again after that), ->done is
# true then, ->cursor is a plain decimal (0 at the start and at the end);
# ->reset starts over and finds everything again (mid-way and after the
# end). hscan_iter over 1,000 fields gives flat field,value pairs that
# rebuild the hash exactly (binary field included), with match too;
# sscan_iter gives the members of a set; zscan_iter flat member,score
# pairs; a small (listpack) hash comes in one batch; iterators over a
# missing key end at once with no batch; a key of the wrong type fails with
# WRONGTYPE.
use Test2::V0;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $srv    = FIORTest::server('plain');
my $base   = FIORTest::unique_key('scan');
my $prefix = "$base:";

my $setup = Future::IO::Redis->new(%$srv);
$setup->connect->get;

# 5,000 strings and 10 hashes under the prefix; the rest beside it.
my %strings = map { ( "${prefix}s$_" => 1 ) } 1 .. 5000;
my %hashes  = map { ( "${prefix}h$_" => 1 ) } 1 .. 10;
my %all     = ( %strings, %hashes );
for my $chunk ( 0 .. 9 ) {
    $setup->mset( map { ( "${prefix}s$_" => "v$_" ) } $chunk * 500 + 1 .. $chunk * 500 + 500 )->get;
}
$setup->hset( $_, f => 'v' )->get for sort keys %hashes;
my $foreign = "$base-foreign";    # "$prefix*" does not match it
$setup->set( $foreign, 'x' )->get;

my $big_hash = "$base-hash1000";
my %fields   = map { ( "field$_" => "value$_" ) } 1 .. 999;
$fields{"bin\0\xff\r\n"} = "\0\x01\xfe";
$setup->hset( $big_hash, %fields )->get;

my $small_hash = "$base-hash3";
$setup->hset( $small_hash, a => 1, b => 2, c => 3 )->get;

my $set     = "$base-set";
my %members = map { ( "m$_" => 1 ) } 1 .. 500;
$setup->sadd( $set, sort keys %members )->get;

my $zset   = "$base-zset";
my %scores = map { ( "z$_" => $_ * 1.5 ) } 1 .. 300;
$setup->zadd( $zset, map { ( $scores{$_}, $_ ) } sort keys %scores )->get;

my $string = "$base-string";
$setup->set( $string, 'not a collection' )->get;

ok( $setup->dbsize->get >= 5010, 'the keys are there' );
is( $setup->hlen($big_hash)->get, 1000, 'a hash of 1,000 fields' );

# Runs an iterator to its end: [ batches ], checking each batch on the way.
# Stops (and fails) after $limit batches rather than loop forever.
sub drain {
    my ( $it, $name, %opt ) = @_;
    my ( @batches, @cursors );
    my $limit = $opt{limit} // 100_000;
    my $bad   = 0;
    while ( defined( my $batch = $it->next->get ) ) {
        $bad++ unless ref $batch eq 'ARRAY' && @$batch && !grep { !defined || ref } @$batch;
        push @batches, $batch;
        push @cursors, $it->cursor;
        if ( @batches > $limit ) { fail("$name: more than $limit batches"); last }
    }
    is( $bad, 0, "$name: every batch a non-empty arrayref of plain strings" );
    ok( $it->done, "$name: done once next gave undef" );
    is( $it->next->get, undef, "$name: next after the end: undef again" );
    ok( !grep( { !defined || ref || !/\A[0-9]+\z/ } @cursors, $it->cursor ),
        "$name: the cursor is a plain decimal" );
    ok( !grep( { defined && /\A0+\z/ } @cursors[ 0 .. $#cursors - 1 ] ),
        "$name: non-zero while batches remain" );
    ok( defined $it->cursor && $it->cursor == 0, "$name: cursor 0 at the end" );
    return \@batches;
}

sub set_of {
    my %s = map { ( $_ => 1 ) } map { @$_ } @{ $_[0] };
    \%s;
}

# Flat pairs (field,value / member,score) of all batches as a hash; counts
# batches of odd length.
sub pairs_of {
    my ($batches) = @_;
    my ( %h, $odd );
    for my $batch (@$batches) {
        $odd++ if @$batch % 2;
        my @p = @$batch;
        while ( my ( $k, $v ) = splice @p, 0, 2 ) { $h{$k} = $v }
    }
    return ( \%h, $odd // 0 );
}

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;

        subtest 'scan_iter with match' => sub {
            my $it = $redis->scan_iter( match => "$prefix*" );
            isa_ok( $it, ['Future::IO::Redis::Iterator'], 'scan_iter gives an Iterator' );
            ok( !$it->done, 'not done before the first next' );
            ok( defined $it->cursor && !ref $it->cursor && $it->cursor == 0,
                'cursor 0 at the start' );

            my $batches = drain( $it, 'match' );
            my $got     = set_of($batches);
            is( scalar( keys %$got ), 5010, '5,010 distinct keys' );
            is( $got, \%all, 'each key of the prefix exactly once after de-duplication' );
            is( [ grep { index( $_, $prefix ) != 0 } map { @$_ } @$batches ], [],
                'no foreign key' );
            ok( !exists $got->{$foreign}, "not even $foreign" );
        };

        subtest 'count' => sub {
            my $few = drain( $redis->scan_iter( match => "$prefix*", count => 10 ), 'count 10' );
            my $many
                = drain( $redis->scan_iter( match => "$prefix*", count => 5000 ), 'count 5000' );
            is( set_of($few),  \%all, 'count 10: all keys' );
            is( set_of($many), \%all, 'count 5000: all keys' );
            my ($largest) = sort { $b <=> $a } map { scalar @$_ } @$few;
            ok( $largest <= 200, "count 10: small batches (largest $largest)" );
            ok( @$many < @$few,
                'count 5000 takes fewer batches (' . @$many . ' vs ' . @$few . ')' );
            ok( @$few >= 50, 'count 10 takes many batches for 5,010 keys (' . @$few . ')' );
        };

        subtest 'type' => sub {
            my $h = drain( $redis->scan_iter( match => "$prefix*", type => 'hash', count => 1000 ),
                'type hash' );
            is( set_of($h), \%hashes, "type => 'hash': the 10 hashes only" );
            my $s
                = drain( $redis->scan_iter( match => "$prefix*", type => 'string', count => 1000 ),
                'type string' );
            is( set_of($s), \%strings, "type => 'string': the 5,000 strings only" );
            my $z = drain( $redis->scan_iter( match => "$prefix*", type => 'zset', count => 1000 ),
                'type zset' );
            is( $z, [], "type => 'zset': no batch at all" );
        };

        subtest 'no match' => sub {
            my $it = $redis->scan_iter( match => "$base:nothing:*", count => 1000 );
            is( drain( $it, 'no match' ), [], 'a pattern nothing matches: no batch' );
        };

        subtest 'reset' => sub {
            my $it    = $redis->scan_iter( match => "$prefix*", count => 100 );
            my $first = $it->next->get;
            my $next  = $it->next->get;
            ok( $first && $next, 'two batches taken' );
            ok( !$it->done,      '... not done' );
            $it->reset;
            ok( !$it->done,       'reset: not done' );
            ok( $it->cursor == 0, 'reset: cursor 0' );
            is( set_of( drain( $it, 'after a reset mid-way' ) ), \%all, 'finds everything again' );
            ok( $it->done, 'done' );
            $it->reset;
            ok( !$it->done,       'reset after the end: not done' );
            ok( $it->cursor == 0, '... cursor 0' );
            is( set_of( drain( $it, 'after a reset at the end' ) ), \%all, 'everything once more' );
        };

        subtest 'hscan_iter' => sub {
            my $batches = drain( $redis->hscan_iter( $big_hash, count => 10 ), 'hscan count 10' );
            my ( $h, $odd ) = pairs_of($batches);
            is( $odd, 0, 'batches are flat field,value pairs (even length)' );
            ok( @$batches > 1, 'a 1,000-field hash comes in several batches' );
            is( scalar keys %$h, 1000,     '1,000 distinct fields' );
            is( $h,              \%fields, 'the pairs rebuild the hash exactly' );
            FIORTest::bytes_are( $h->{"bin\0\xff\r\n"}, "\0\x01\xfe", 'the binary field' );

            ($h) = pairs_of( drain( $redis->hscan_iter($big_hash), 'hscan default count' ) );
            is( $h, \%fields, 'default count: the same hash' );

            my %want = map { ( $_ => $fields{$_} ) } grep { /\Afield1/ } keys %fields;
            is( scalar keys %want, 111, '(111 fields match field1*)' );
            ($h) = pairs_of(
                drain(
                    $redis->hscan_iter( $big_hash, match => 'field1*', count => 50 ),
                    'hscan match'
                )
            );
            is( $h, \%want, "match => 'field1*': those fields, with their values" );

            my $small = drain( $redis->hscan_iter($small_hash), 'small hash' );
            is( scalar @$small, 1, 'a small hash: one batch' );
            my ($sh) = pairs_of($small);
            is( $sh, { a => 1, b => 2, c => 3 }, '... with all its pairs' );
        };

        subtest 'sscan_iter' => sub {
            my $batches = drain( $redis->sscan_iter( $set, count => 20 ), 'sscan' );
            ok( @$batches > 1, 'a 500-member set comes in several batches' );
            is( set_of($batches), \%members, 'each member once after de-duplication' );
            my %want = map { ( $_ => 1 ) } grep { /\Am4/ } keys %members;
            is( set_of( drain( $redis->sscan_iter( $set, match => 'm4*' ), 'sscan match' ) ),
                \%want, "match => 'm4*'" );
        };

        subtest 'zscan_iter' => sub {
            my $batches = drain( $redis->zscan_iter( $zset, count => 20 ), 'zscan' );
            my ( $z, $odd ) = pairs_of($batches);
            is( $odd, 0, 'batches are flat member,score pairs' );
            ok( @$batches > 1, 'a 300-member zset comes in several batches' );
            is(
                $z,
                { map { ( $_ => number( $scores{$_} ) ) } keys %scores },
                'member => score, exactly'
            );
            ($z) = pairs_of( drain( $redis->zscan_iter( $zset, match => 'z29*' ), 'zscan match' ) );
            is(
                $z,
                {
                    map { ( $_ => number( $scores{$_} ) ) }
                        qw(z29 z290 z291 z292 z293 z294 z295 z296 z297 z298 z299)
                },
                "match => 'z29*'"
            );
        };

        subtest 'a missing key' => sub {
            my $missing = "$base-missing";
            for my $kind (qw(hscan_iter sscan_iter zscan_iter)) {
                my $it = $redis->$kind($missing);
                is( $it->next->get, undef, "$kind: next gives undef at once" );
                ok( $it->done, "$kind: done" );
                is( $it->next->get, undef, "$kind: and undef again" );
            }
            is( $redis->exists($missing)->get, 0, 'nothing created' );
        };

        subtest 'wrong type' => sub {
            FIORTest::redis_error_ok(
                $redis,      $redis->sscan_iter($string)->next,
                'WRONGTYPE', 'sscan_iter of a string'
            );
            FIORTest::redis_error_ok( $redis, $redis->hscan_iter($set)->next,
                'WRONGTYPE', 'hscan_iter of a set' );
        };

        $redis->disconnect;
    };
}

my @cleanup = ( keys %all, $foreign, $big_hash, $small_hash, $set, $zset, $string );
while ( my @chunk = splice @cleanup, 0, 500 ) { $setup->unlink(@chunk)->get }
is( $setup->keys("$base*")->get, [], 'no key of this file left behind' );
$setup->disconnect;
done_testing;
